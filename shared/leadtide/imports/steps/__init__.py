"""The import pipeline's steps, one class each (:class:`~leadtide.imports.steps.analyse.AnalyseStep`,
:class:`~leadtide.imports.steps.plan.PlanStep`, :class:`~leadtide.imports.steps.chunk.ChunkStep`,
:class:`~leadtide.imports.steps.rollback.RollbackStep`), over what they share
(:mod:`leadtide.imports.steps.common`); :class:`leadtide.imports.pipeline.ImportPipeline` is their facade."""
