"""The resolver's pure core: matching, the policy and the rules of engagement."""
