"""A local stand-in for HubSpot and Salesforce, for development and tests (its own process).

``uvicorn crm_sync.sandbox.app:create_app --factory --port 8090`` serves HubSpot's CRM v3 dialect
over HTTP and starts Salesforce's REST dialect over HTTPS (a certificate generated at start) on
a second port. It sends signed webhooks to crm_sync with the real misbehaviour (batches,
duplicates, reordering, retries) and has a control API for fault injection. crm_sync never
imports it, and it never imports crm_sync.
"""
