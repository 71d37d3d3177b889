"""photometric"""
