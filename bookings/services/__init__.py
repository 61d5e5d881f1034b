"""The writes of the booking domain, one module per use case (STYLE: services by use case)."""
