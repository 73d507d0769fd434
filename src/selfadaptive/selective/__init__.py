"""selfadaptive.selective"""
