"""selfadaptive.runs"""
