"""conflict_resolver: matches customers, applies the rules of engagement and first-to-register
exclusivity, and emits decisions.

``domain`` is pure (matching, policy, rules); ``adapters`` hold its tables; ``handlers`` run one
use case per transaction; ``app`` is the composition root.
"""
