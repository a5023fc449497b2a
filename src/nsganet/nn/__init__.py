"""Network building blocks shared by the search spaces."""
