"""spadelib"""
