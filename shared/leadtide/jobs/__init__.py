"""Background jobs: steps of imports, exports, bulk actions and duplicate detection, queued on the jobs
queue (SQS) and run by the Jobs worker function, one message per step."""
