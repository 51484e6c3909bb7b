"""Event generators: the fast parametric toy (:mod:`~anomsearch.data.generate.toy`) and its
mismodelled simulation (:mod:`~anomsearch.data.generate.toy_simulation`), the Pythia 8 chain
(:mod:`~anomsearch.data.generate.pythia`), run in resumable parallel chunks
(:mod:`~anomsearch.data.generate.pythia_chunks`) and cached per config
(:mod:`~anomsearch.data.generate.pythia_source`)."""
