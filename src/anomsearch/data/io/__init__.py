"""Reading and writing the LHC Olympics formats (:mod:`~anomsearch.data.io.lhco`: features and
master keys; :mod:`~anomsearch.data.io.lhco_raw`: raw particles) and downloading the public
datasets (:mod:`~anomsearch.data.io.download`)."""
