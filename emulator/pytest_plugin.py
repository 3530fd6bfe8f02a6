"""pytest plugin (fixtures for users' test suites)."""
