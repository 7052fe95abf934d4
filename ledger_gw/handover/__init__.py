"""A consented referral hand-over between two agencies' gateways: the sealed package
(HPKE to the receiving organisation's published key) and the signed request that fetches
it. Pure domain: no HTTP, no storage."""
