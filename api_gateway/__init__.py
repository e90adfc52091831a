"""The API Gateway definition of the REST API, shared by infra (deployed) and the local gateway."""
