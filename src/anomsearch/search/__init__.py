"""The search on scored events: the cut at fixed efficiency (:mod:`~anomsearch.search.selection`),
the one-window bump hunt (:mod:`~anomsearch.search.bump_hunt`) and ABCD search
(:mod:`~anomsearch.search.abcd_search`), the sliding-window scan (:mod:`~anomsearch.search.scan`)
and its background-only pseudo-experiments (:mod:`~anomsearch.search.global_toys`)."""
