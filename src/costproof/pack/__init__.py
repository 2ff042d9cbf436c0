"""Source pack: one checksummed, reviewable bundle per period, and its verification."""
