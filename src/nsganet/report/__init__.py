"""What people look at: the HTML report of a run, its figures, and the plots a search leaves behind."""
