"""One-click training in the studio: the child-process worker, the Training and Data docks, live plots."""
