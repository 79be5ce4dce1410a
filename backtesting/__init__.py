"""Backtesting: replay a plan over recorded or synthetic market frames through the real router."""
