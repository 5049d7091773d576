"""How every Kafka client of dealreg authenticates and encrypts: one place, from the settings.

:func:`client_options` turns :class:`~services.settings.KafkaSettings` into the keyword
arguments aiokafka's producer, consumer, admin client and bare client all take
(``security_protocol``, ``sasl_*``, ``ssl_context``). Every client in ``services.kafka`` is
built with them, so a broker that requires SASL/SCRAM or TLS is reached the same way by the
relay, the consumers, topic creation, the readiness probe and the dead-letter tools.
"""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from services.settings import KafkaSettings

ClientOptions = dict[str, Any]


def client_options(settings: KafkaSettings) -> ClientOptions:
    """aiokafka keyword arguments for the security settings (empty for PLAINTEXT)."""
    protocol = settings.security_protocol
    options: ClientOptions = {}
    if protocol == "PLAINTEXT":
        return options
    options["security_protocol"] = protocol
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=settings.ssl_cafile,
            certfile=settings.ssl_certfile,
            keyfile=settings.ssl_keyfile,
        )
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    return options
