"""crm_sync: mirrors approved registrations into the CRM and takes CRM webhooks back.

In this first cut it records every approval it must mirror (``mirrored_deals``) through its
inbox; the connectors (HubSpot, Salesforce) build on that record.
"""
