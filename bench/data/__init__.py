"""Data intake: vendor readers, cohort sources (incl. the simulator), standardisation, validation and data
fingerprints. A cohort source turns a spec into records + standardised signals."""
