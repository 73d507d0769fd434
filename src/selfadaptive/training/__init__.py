"""selfadaptive.training"""
