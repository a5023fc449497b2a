"""Proxy-fidelity study (NSGANetV1 Sec. V-C, Fig. 12): choosing a proxy by how well it ranks architectures.

A search scores thousands of architectures by a cheap proxy: a down-scaled
network trained a few epochs on part of the data, or weights inherited from a
supernet. It needs the proxy to *rank* architectures as a faithful training
would, not to match its accuracy. A study samples ``archs`` architectures of
a space (the same ones for the same seed), scores each at a *reference*
setting and at cheaper ones, and reports per setting the Spearman ρ and
Kendall τ of its validation errors against the reference's, the overlap of
the best ``top_k`` architectures, and the cost per architecture; it
recommends the cheapest setting whose ρ (or τ) reaches a threshold.

Settings are written in one compact grammar (:func:`parse_setting`):
``c<channels>-l<layers>-e<epochs>[-i<images>][-r<px>]`` trains from scratch (width,
cells per stage, epochs, a subset of the search-train images, the image
size), ``inherit[-s<epochs>][-f<epochs>]`` inherits weights from a supernet
trained for ``s`` epochs in the study folder (or the given ``--supernet`` as
it is), recalibrates batch norm and, with ``f``, fine-tunes first.

Every finished (architecture, setting) pair is committed at once to the
study's store (:mod:`~nsganet.proxy_study.store`); a study stopped at any
moment continues where it stopped and ends with the results an uninterrupted
one has, since every training is seeded from (seed, setting, architecture)
alone, whatever the workers. The study only computes, stores and announces
events; callbacks draw progress and write the files (``results.csv``,
``study.csv``, ``study.json``; ``study.png`` comes from
:mod:`nsganet.report.proxy_study_plots`).

The modules, each importing only those above it: :mod:`~.settings` (the
grammar and the defaults), :mod:`~.store` (``study.sqlite``), :mod:`~.table`
(ρ, τ, top-k and the recommendation; torch-free), :mod:`~.config` (what a
study is and how it runs), :mod:`~.outputs` (the result and the files),
:mod:`~.events` (callbacks), :mod:`~.tasks` (sampling, data, what a worker
runs), :mod:`~.planning` (options resolved into a plan) and :mod:`~.runner`
(the study and its entry points).
"""

from __future__ import annotations

from nsganet.proxy_study.config import StudyConfig, StudyPlan, StudyRuntime
from nsganet.proxy_study.events import RunningStudy, StudyCallback
from nsganet.proxy_study.outputs import (
    RESULTS_CSV,
    STORE_FILE,
    STUDY_CSV,
    STUDY_JSON,
    STUDY_PNG,
    ProxyStudyResult,
    write_study_files,
)
from nsganet.proxy_study.planning import DEFAULT_ARCHS, plan_recorded, plan_study
from nsganet.proxy_study.runner import ProxyStudy, default_out, resume_proxy_study, run_proxy_study
from nsganet.proxy_study.settings import GRAMMAR, Setting, default_reference, default_settings, parse_setting
from nsganet.proxy_study.store import PairResult
from nsganet.proxy_study.table import (
    DEFAULT_THRESHOLD,
    Analysis,
    SettingRow,
    StudyTable,
    rank_correlations,
    study_table,
    top_k_overlap,
)
from nsganet.proxy_study.tasks import sample_architectures

__all__ = ["DEFAULT_ARCHS", "DEFAULT_THRESHOLD", "GRAMMAR", "RESULTS_CSV", "STORE_FILE", "STUDY_CSV", "STUDY_JSON",
           "STUDY_PNG", "Analysis", "PairResult", "ProxyStudy", "ProxyStudyResult", "RunningStudy", "Setting",
           "SettingRow", "StudyCallback", "StudyConfig", "StudyPlan", "StudyRuntime", "StudyTable", "default_out",
           "default_reference", "default_settings", "parse_setting", "plan_recorded", "plan_study",
           "rank_correlations", "resume_proxy_study", "run_proxy_study", "sample_architectures", "study_table",
           "top_k_overlap", "write_study_files"]
