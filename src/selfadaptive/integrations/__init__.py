"""Glue to other training frameworks, each in its own module behind its own optional extra:
``selfadaptive.integrations.lightning`` (``pip install "selfadaptive[lightning]"``).  Nothing here is
imported by ``import selfadaptive``."""
