"""The long-running side of pbxctl (``serve``, ``cdr follow``): one follower per node
keeps its AMI link up (``node``), handles its events in order and stores what they say
with retries (``events``), catches up from Master.csv what the link missed
(``catch_up``); the supervisor runs them with webhook delivery (``supervisor``)."""
