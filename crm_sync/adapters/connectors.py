"""Build the deployment's CRM connector from settings."""

from __future__ import annotations

from crm_sync.adapters.hubspot import HubSpotConnector
from crm_sync.adapters.salesforce import SalesforceConnector
from crm_sync.domain.model import HUBSPOT_DEFAULT_STAGES, SALESFORCE_DEFAULT_STAGES, StageTable
from crm_sync.ports import CrmConnector
from crm_sync.settings import CrmSettings


def _table(
    base: StageTable, extra: dict[str, str], won: list[str], lost: list[str], initial: str
) -> StageTable:
    return StageTable(
        stages={**base.stages, **extra},
        won=frozenset(won) or base.won,
        lost=frozenset(lost) or base.lost,
        initial=initial or base.initial,
    )


def build_connector(settings: CrmSettings) -> CrmConnector | None:
    if settings.connector == "hubspot":
        return HubSpotConnector(
            base_url=settings.hubspot_base_url,
            token=settings.hubspot_token.get_secret_value(),
            stages=_table(
                HUBSPOT_DEFAULT_STAGES,
                settings.hubspot_stage_map,
                settings.hubspot_won_stages,
                settings.hubspot_lost_stages,
                settings.hubspot_initial_stage,
            ),
            pipeline=settings.hubspot_pipeline,
            per_ten_seconds=settings.hubspot_per_ten_seconds,
            per_day=settings.hubspot_per_day,
            search_per_second=settings.hubspot_search_per_second,
            attempts=settings.http_attempts,
            initial_backoff=settings.http_backoff_initial_seconds,
            max_backoff=settings.http_backoff_max_seconds,
        )
    if settings.connector == "salesforce":
        return SalesforceConnector(
            instance_url=settings.salesforce_instance_url,
            token_url=settings.salesforce_token_url,
            client_id=settings.salesforce_client_id.get_secret_value(),
            client_secret=settings.salesforce_client_secret.get_secret_value(),
            api_version=settings.salesforce_api_version,
            stages=_table(SALESFORCE_DEFAULT_STAGES, settings.salesforce_stage_map, [], [], ""),
            integration_user_id=settings.salesforce_integration_user_id,
            per_day=settings.salesforce_per_day,
            attempts=settings.http_attempts,
            initial_backoff=settings.http_backoff_initial_seconds,
            max_backoff=settings.http_backoff_max_seconds,
            verify=settings.salesforce_ca_bundle or True,
        )
    return None
