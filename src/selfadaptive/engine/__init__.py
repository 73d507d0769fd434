"""selfadaptive.engine"""
