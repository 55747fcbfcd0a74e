"""The compliance officers' pages: audit trail, integrity, proof bundles, dashboard, access log
(R51-R56). Read only: the only writes are the logs of what compliance itself did."""
