"""Simulator plumbing every marketplace kind's simulator shares: the store of listings and
sales, fault injection, the control API, shoppers, signed webhook delivery and lag measurement."""
