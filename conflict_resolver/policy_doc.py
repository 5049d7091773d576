"""The rules of engagement in words a partner manager understands, from a policy.

``python -m conflict_resolver.policy_doc > docs/rules-of-engagement.md`` writes the page for the
checked-in default policy; a unit test keeps the page in step with the file.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from decimal import Decimal

from conflict_resolver.adapters.policy_store import default_policy
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection.notices import notice_words
from schemas.review_reasons import EDITABLE_FIELDS, REJECTION_REASONS


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if unit == "day" and seconds < 3 * size:
            continue  # "48 hours" reads better than "2 days" for a deadline
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def _times(count: int) -> str:
    return {0: "never", 1: "once", 2: "twice"}.get(count, f"{count} times")


def _money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def _capacity(policy: Policy) -> str:
    caps = policy.capacity
    over = "rejected" if caps.action == "reject" else "sent to review"
    parts = []
    for tier, cap in sorted(caps.tiers.items()):
        words = [
            *([f"{cap.overall} overall"] if cap.overall is not None else []),
            *([f"{cap.per_product_line} per product line"] if cap.per_product_line else []),
            *(f"{limit} for `{line}`" for line, limit in sorted(cap.product_lines.items())),
        ]
        parts.append(f"{tier} partners {', '.join(words) or 'no cap'}")
    limits = "; ".join(parts) if parts else "no tier is capped"
    return (
        "**Capacity.** The policy may cap how many live protections one partner holds, by "
        f"tier, overall or per product line ({limits}). A registration that would be approved "
        f"while its partner is at its cap is {over} (`CAPACITY_LIMIT`); a protection that "
        "ends frees its place. Approvals by sales operations and transfers are theirs to "
        "decide and are not capped."
    )


def _lines(policy: Policy) -> list[str]:
    base = policy.base_currency
    tiers = ", ".join(
        f"{tier} partners {_duration(window)}"
        for tier, window in sorted(policy.tier_protection_windows.items())
    )
    rates = ", ".join(
        f"1 {code} = {rate} {base}" for code, rate in sorted(policy.exchange_rates.items())
    )
    lines_overrides = [
        f"- `{line}`: "
        + ", ".join(
            part
            for part in (
                line_policy.protection_window
                and f"protection {_duration(line_policy.protection_window)}",
                line_policy.minimum_amount is not None
                and f"minimum {_money(line_policy.minimum_amount, base)}",
            )
            if part
        )
        for line, line_policy in sorted(policy.product_lines.items())
    ]
    house = (
        "rejected (`HOUSE_ACCOUNT`)"
        if policy.house_account_action == "reject"
        else "sent to sales operations for review (`HOUSE_ACCOUNT`)"
    )
    deadline = {
        "none": "it is escalated to a sales-ops manager; nothing is decided automatically",
        "approve_first": (
            "it is decided automatically: the earliest registration is approved if no other "
            "partner holds protection, otherwise it is rejected"
        ),
        "reject": "it is rejected automatically",
    }[policy.sla_auto_decision]
    same = policy.matching.same_account
    review = policy.matching.review
    return [
        "# Rules of engagement",
        "",
        "<!-- Generated from conflict_resolver/default_policy.yaml by "
        "`python -m conflict_resolver.policy_doc`; do not edit by hand. -->",
        "",
        "This page states the default policy: how every deal registration is decided. The policy "
        "is data: sales operations publish new versions (`PUT /v1/policy`), and every decision "
        "records the version it used, the rule that decided, and the evidence.",
        "",
        "## How a registration is decided",
        "",
        "The rules are applied in this order; the first one that applies decides.",
        "",
        "1. **Eligibility.** The partner must be active and authorised for the product line, and "
        f"the deal must be worth at least {_money(policy.minimum_amount, base)}. Other "
        f"currencies are converted at the policy's rates ({rates}). Otherwise the registration "
        "is rejected: `PARTNER_INELIGIBLE`, `PRODUCT_NOT_AUTHORIZED` or `BELOW_MINIMUM`. A "
        "currency without a rate goes to review (`UNKNOWN_CURRENCY`).",
        "2. **Same partner again.** If the same partner already has a live registration for the "
        "same customer and product line, the new one is rejected as `DUPLICATE`, pointing at the "
        "first.",
        f"3. **House accounts.** A customer reserved for direct sales is {house}.",
        "4. **Direct sales already working it.** If the vendor's own sales team has an open "
        "opportunity in the CRM for the same customer and product line, the registration goes "
        "to review (`DIRECT_OPPORTUNITY_CONFLICT`). It is never silently approved or rejected. "
        "The CRM's opportunities are matched to the customer as registrations are (rule 7's "
        "same customer), and an opportunity that names no product line counts for every line.",
        "5. **Another partner holds protection.** The registration is rejected as "
        "`ALREADY_REGISTERED` and joins the **waitlist**. The partner is told until when the "
        "opportunity is protected, never by whom. When the holder's protection ends without a "
        "win (lost, expired or withdrawn), the next registration on the waitlist, in the order "
        "they were submitted, is re-evaluated automatically against the rules at that moment: "
        "approved (`WAITLIST_PROMOTED`), sent to review (for instance "
        "`DIRECT_OPPORTUNITY_CONFLICT`), or rejected for another reason. A registration leaves "
        "the waitlist when its own expected close date passes (`WAITLIST_LEFT`), whether or not "
        "the protection ahead of it has ended. Each of these steps is told to the partner.",
        "6. **Renewals and upsells.** The partner that won the last deal for the customer and "
        f"product line within {_duration(policy.incumbency_period)} is the **incumbent**. A "
        "renewal or upsell by another partner goes to review (`INCUMBENT_CONFLICT`); by the "
        "incumbent it is approved.",
        "   While another partner's registration for the same customer and product line awaits "
        "review, a new one joins that review (`CLAIM_IN_REVIEW`).",
        "7. **Not sure it is the same customer.** Customer names are compared after removing "
        "legal forms, punctuation, accents and the like. At or above "
        f"{same:.0%} similarity, or with the same web domain, it is the same customer. Between "
        f"{review:.0%} and {same:.0%} the registration goes to review (`POSSIBLE_DUPLICATE`) so "
        "that a person can confirm. Every such decision is kept; sales ops may narrow this band "
        "from them so that automatic matches stay "
        f"{policy.matching.target_precision:.0%} right, published as a new policy version.",
        "8. **Otherwise approved.** The partner holds exclusivity for "
        f"{_duration(policy.protection_window)} from approval"
        + (f" ({tiers})" if tiers else "")
        + ".",
        "   " + _capacity(policy),
        "",
        *(
            ["Product lines with their own terms:", "", *lines_overrides, ""]
            if lines_overrides
            else []
        ),
        *_families(policy),
        "## First to register",
        "",
        '"First" means first accepted by the registration service (a server-side order), not '
        "first processed. Registrations for one customer normally arrive in that order. When "
        "two spellings of one company arrive through different channels and the later one was "
        "decided first, the earlier one is not silently given exclusivity (that would mean two "
        "partners protected at once): it goes to review (`FIRST_TO_REGISTER_CONFLICT`) with the "
        "evidence. Two registrations never hold protection for the same customer and product "
        "line at the same time.",
        "",
        "## During the protection window",
        "",
        f"- **Extension.** A partner may extend {_times(policy.extension.max_extensions)}, by "
        f"{_duration(policy.extension.duration)}, before the window ends, while the deal is "
        "still open. Otherwise the extension is refused with the reason."
        + (
            " A request that qualifies goes to sales operations' review (a case "
            "`EXTENSION_REVIEW`, never decided automatically at its deadline), who grant or "
            "refuse it (`EXTENSION_REJECTED`)."
            if policy.extension.review
            else " A request that qualifies is granted at once (the policy may send them to "
            "review instead)."
        ),
        "- **Expiry notices.** The holder is told by webhook that its protection expires in "
        + (
            ", ".join(notice_words(n) for n in sorted(policy.expiry_notices, reverse=True))
            if policy.expiry_notices
            else "(no notices are set)"
        )
        + " (`PROTECTION_EXPIRING`), each notice once per expiry (an extension's new expiry is "
        "told again). A notice whose time came before the protection was granted is not sent.",
        "- **Expiry.** When the window ends the registration becomes `expired`, automatically, "
        "and the waitlist moves on.",
        "- **Won, lost, withdrawn.** A win or loss in the CRM, or a withdrawal by the partner, "
        "ends the protection early. A win makes the partner the incumbent, also when the deal "
        "is won after the window ended (the registration then reads `won`).",
        "",
        "## Direct sales on a protected account",
        "",
        "Every open CRM opportunity that deal registration did not create is matched, as it "
        "opens, against the registrations holding protection, as registrations are matched: "
        "the same customer by the same rules, and an opportunity that names no product line "
        "counts for every line. When direct sales open one on a customer a partner protects, "
        "a `DIRECT_ENCROACHMENT` case opens in the conflict queue with the evidence, due "
        f"{_duration(policy.review_sla)} later (escalated past that, never decided "
        'automatically). The CRM opportunity shows its owner "partner-protected until '
        "<date>\"; the partner is told that the vendor's sales team opened an opportunity and "
        "that its protection stands, naming no one. Sales operations resolve the case: "
        "`acknowledged`, `partner_keeps` (direct sales step back) or `direct_proceeds` (direct "
        "sales go on alongside); the partner's protection stands whichever they choose, and "
        "the partner is told.",
        "",
        "## Review by sales operations",
        "",
        "Registrations in review wait in the conflict queue with the competing registrations "
        "and the evidence (which rule, similarity scores, matched fields). Each case is due "
        f"{_duration(policy.review_sla)} after it opens; past that, {deadline}.",
        "",
        "An approval from the queue (by a person or at the deadline) gives the same window as "
        "an automatic one (tier and product line). It is refused while another registration "
        "holds live protection, or while a registration accepted earlier waits on the waitlist "
        "(that one is re-evaluated first when the protection ends). A protection whose window "
        "has already passed is ended (`expired`) before the approval takes its place.",
        "",
        *_attribution(policy),
        *_answers(policy),
        *_roles(policy),
    ]


def _roles(policy: Policy) -> list[str]:
    """Roles on an opportunity: influence claims and co-sell partners."""
    house = (
        "An influence claim on a house account is rejected (`HOUSE_ACCOUNT`), as a "
        "registration on one is."
        if policy.house_account_action == "reject"
        else "An influence claim on a house account is accepted: the policy sends "
        "registrations on house accounts to review, and a claim that protects nothing has "
        "nothing for a reviewer to decide."
    )
    return [
        "## Roles on an opportunity",
        "",
        "A registration is **sourced** (the exclusive claim every rule above decides; the "
        "default) or **influence**: the partner declares it helped on the customer.",
        "",
        "- **Influence.** Never exclusive: it holds no protection, blocks no one, never joins "
        "a waitlist, never waits in review, and plays no part in first-to-register, "
        "duplicates, capacity or matching for anyone else. No partner learns of another's "
        "influence. It is decided at once: `rejected` `PARTNER_INELIGIBLE` or "
        f"`PRODUCT_NOT_AUTHORIZED` by the eligibility rule (no minimum amount). {house} "
        "Otherwise it is `accepted` (`INFLUENCE_ACCEPTED`), whether or not the customer has "
        "an opportunity yet: the claim stays on the account and product line, and the "
        "opportunity a sourced registration gets there, now or later, carries it. A partner "
        "files one influence claim per customer and product line while it is live (a second "
        "is refused with 409); it may withdraw it.",
        "- **Co-sell.** The holder of an approved sourced registration may invite other "
        "partners, each with a role: `distributor`, `reseller`, `msp` or `referral`. Each "
        "invitee accepts or declines, once; it can accept only while the registration is still "
        "approved. The holder sees whom it invited and each answer; an invitee sees only its "
        "own invitation (the customer, the product line and its role, never the holder, the "
        "amount or the other invitees); no one else sees anything. Co-sell partners hold no "
        "protection either.",
        "- **The CRM opportunity** lists every partner and its role: the sourced holder "
        "(`sourced`), each co-sell partner that accepted, and each accepted influence claim "
        "(`influence`).",
        "",
    ]


def _families(policy: Policy) -> list[str]:
    """Company families and aliases from the CRM."""
    families = policy.company_families
    words = {
        "separate": "each company is its own account",
        "one_account": "the whole family is one account, under its top parent",
    }
    overrides = [
        f"- `{line}`: {words[mode]}" for line, mode in sorted(families.product_lines.items())
    ]
    return [
        "## Company families and aliases from the CRM",
        "",
        "The CRM's company records (name, primary and alias domains, former names, parent "
        "company) are kept by the resolver. A registration that names one of a company's "
        "domains (an alias too) or its name or a former name is that CRM company: it competes "
        "with every other registration of the company, however they spelled it, so the first "
        "to register holds protection for all of them. A name alone is not enough when the "
        "registration names a web domain the company does not list.",
        "",
        "A parent and its subsidiaries are a **family**. By default "
        f"{words[families.mode]}"
        + (
            "; on these product lines:"
            if overrides
            else ". The policy may count a family as one account, overall or per product line "
            "(`company_families`)."
        ),
        "",
        *([*overrides, ""] if overrides else []),
        "Reviewers see which CRM company the customer is, how it was recognised (domain, alias "
        'domain, name, former name) and its family ("subsidiary of X"), with the family policy '
        "that applied.",
        "",
    ]


_MODELS = {
    "sourced_only": "the partner that sourced the deal (its approved, protecting registration, "
    "after any transfer) is credited with all of it",
    "first_touch": "the partner involved first is credited with all of it (on a tie, the one "
    "that sourced it)",
    "even_split": "every partner involved is credited an equal part",
    "role_weights": "each partner involved is credited its role's weight over the sum of the "
    "weights of the partners involved (an even split when those sum to nothing)",
}


def _attribution(policy: Policy) -> list[str]:
    """Who is credited at closed-won, in the words of DOMAIN.md."""
    rules = policy.attribution
    weights = ", ".join(
        f"{role} {weight.normalize():f}" for role, weight in sorted(rules.role_weights.items())
    )
    return [
        "## Attribution at closed-won",
        "",
        "When the CRM reports a deal closed-won, its amount (the CRM's at closing, else the "
        f"registered one) is credited to the partners involved by the policy's model, today "
        f"`{rules.model}`: {_MODELS[rules.model]}. The other models are "
        + "; ".join(f"`{name}`: {words}" for name, words in _MODELS.items() if name != rules.model)
        + f". Role weights: {weights or 'none'}. Credits are whole cents that add up to the "
        "amount (the cents left over go to the largest remainders). A partner involved in two "
        "roles counts once, with the role it joined with first. Each credit is recorded as an "
        "event (`DealAttributed`, one line per partner and role, in the deal's currency and in "
        f"the base currency, {policy.base_currency}, at the policy's rates). A lost or expired "
        "deal credits no one, and a win is credited once however often the CRM reports it.",
        "",
        "Changing the model is a new policy version like any other, and it changes only deals "
        "won afterwards; the policy what-if shows what past won deals would have been credited "
        "under a draft model.",
        "",
        "The partners involved in a won deal are: the sourced holder (role `sourced`, joined "
        "when it registered); each co-sell partner that accepted the holder's invitation (its "
        "role, `distributor`, `reseller`, `msp` or `referral`, joined when it accepted); and "
        "each accepted, not withdrawn, influence claim on the same customer and product line "
        "(role `influence`, joined when it was accepted). First touch goes by those times. A "
        "declined invitation, a withdrawn influence claim and a waitlisted partner are not "
        "involved.",
        "",
        "**After a transfer.** Co-sell partners are the holder's: they accepted an invitation "
        "on its registration. When sales ops transfer protection, the new holder's deal keeps "
        "the influence claims (they are on the customer) but not the previous holder's "
        "co-sell partners: they are not credited on the new holder's win, and the partner list "
        "the new holder's deal writes to the CRM opportunity names the new holder, its own "
        "co-sell partners and the influence claims; the new holder invites its own.",
        "",
    ]


def _answers(policy: Policy) -> list[str]:
    """The reviewer's answers a partner may act on: coded rejections, the appeal, return for
    edit and amendments."""
    trips = policy.reviews.max_edit_round_trips
    codes = [f"| `{code}` | {sentence} |" for code, sentence in REJECTION_REASONS.items()]
    return [
        "## Rejection reasons and appeal",
        "",
        "A reviewer who rejects a registration gives one of these codes (and a note that "
        "stays with sales operations); the partner reads the code and its sentence, never "
        "another partner's name. A rejection from the queue without a code reads "
        "`REVIEW_REJECTED`.",
        "",
        "| Code | What the partner reads |",
        "| --- | --- |",
        *codes,
        "",
        "The partner may appeal a rejection by review once, with a note: the case reopens "
        "with its original evidence and competing registrations, the registration is "
        f"`pending_review` again (`APPEALED`), and the case is due "
        f"{_duration(policy.reviews.appeal_sla)} after the appeal (then escalated like any "
        "other case). A second appeal is refused.",
        "",
        "## Return for edit",
        "",
        "Instead of deciding, a reviewer may return a registration to its partner "
        "(`action_required`) with comments and the fields the partner may change "
        f"({', '.join(f'`{name}`' for name in EDITABLE_FIELDS)}). A change to any other "
        "field is refused, naming it. The edited registration goes through these rules again, "
        "keeping its place in first-to-register. A registration may be returned "
        f"{_times(trips)}; after that the reviewer must approve or reject it.",
        "",
        "An approved registration may amend its sales fields (amount, expected close date, "
        "contact); the CRM opportunity follows. Its customer, product line and deal type do "
        "not change.",
        "",
        *_overlap_lines(),
    ]


def _overlap_lines() -> list[str]:
    """Account overlap (issue 16): not a rule of the policy, but a promise of the program."""
    return [
        "## Account overlap",
        "",
        "A partner may compare its customer and prospect list with the vendor's accounts "
        "(open registrations, open direct opportunities in the CRM, house accounts) without "
        "either side showing the other anything outside the overlap. Sales operations issue "
        "each partner its own overlap key (and rotate it); the partner sends only keyed "
        "hashes of its accounts' registrable domains, never the domains, and hashes made "
        "with one partner's key say nothing under another's. Both sides see how many "
        "accounts each holds and how many both do. Only when both the partner and sales "
        "operations have opted in does either see which accounts overlap, and then only "
        "those; either may withdraw its opt-in at any time. An overlapping account tells "
        "the partner nothing about who else works on it: registering it goes through these "
        "rules like any other registration, first to register included.",
        "",
    ]


def render(policy: Policy) -> str:
    return "\n".join(_lines(policy))


def main() -> None:
    sys.stdout.write(render(default_policy()))


if __name__ == "__main__":
    main()
