"""The reliability drills' machinery, shared by ``bench/drills.py`` (the soak that writes
``docs/reliability.md``) and ``tests/reliability`` (the same drills, small, in CI):
real ``orderflow worker`` processes (:mod:`.procs`), the drills themselves
(:mod:`.scenarios`), throwaway servers and stores (:mod:`.harness`) and polling helpers
(:mod:`.polling`). It imports nothing from ``tests``."""
