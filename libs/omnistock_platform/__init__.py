"""What every Omnistock service needs and nothing service-specific."""
