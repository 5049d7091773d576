"""Kafka adapters: the producer behind the outbox, consumers, dead letters, topic creation."""
