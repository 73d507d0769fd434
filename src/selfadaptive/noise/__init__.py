"""selfadaptive.noise"""
