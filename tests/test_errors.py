from selfadaptive.errors import first_line


def test_first_line_of_messages():
    assert first_line(ValueError("bad thing\nsecond line")) == "bad thing"
    assert first_line(IndexError()) == "IndexError"                # empty messages still say something
    assert first_line(RuntimeError("x" * 500), limit=10) == "x" * 10
