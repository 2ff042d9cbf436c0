"""Review room: dispositions, attestations, contract details, the review log, approval and the period lock."""
