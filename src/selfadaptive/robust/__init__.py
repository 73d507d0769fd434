"""selfadaptive.robust"""
