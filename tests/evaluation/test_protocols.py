"""The protocol registry and the ``-o key=value`` option parsing every protocol shares."""

from __future__ import annotations

import dataclasses

import pytest

from pointdistill.errors import ConfigError, PointDistillError
from pointdistill.evaluation import protocols
from pointdistill.evaluation.common import options_dict, parse_options


@pytest.mark.parametrize("name", protocols.protocol_names())
def test_every_protocol_has_the_interface(name):
    module = protocols.get_protocol(name)
    assert dataclasses.is_dataclass(module.Options) and callable(module.run)
    assert module.HEADLINE in ("test_accuracy", "test_inst_miou", "effective_rank", "miou", "effective_prototypes")
    assert getattr(module, "BACKBONE", "object") in ("object", "scene", "method")


def test_unknown_protocol_lists_the_known_ones():
    with pytest.raises(PointDistillError, match="unknown protocol 'svn'; choose from svm, knn"):
        protocols.get_protocol("svn")


def test_options_parse_yaml_values_and_validate_keys():
    svm = protocols.get_protocol("svm")
    options = parse_options(svm.Options, ["c_grid=[0.1, 1]", "cv_folds=3", "pooling=[max]"], "evaluate svm")
    assert options.c_grid == (0.1, 1.0) and options.cv_folds == 3 and options.pooling == ("max",)
    assert options_dict(options)["c_grid"] == [0.1, 1.0]
    with pytest.raises(ConfigError, match="unknown config key 'folds'.*cv_folds"):
        parse_options(svm.Options, ["folds=3"], "evaluate svm")
    with pytest.raises(ConfigError, match="cv_folds: expected an integer"):
        parse_options(svm.Options, ["cv_folds=many"], "evaluate svm")
    with pytest.raises(ConfigError, match="must look like key.path=value"):
        parse_options(svm.Options, ["cv_folds"], "evaluate svm")
    with pytest.raises(ConfigError, match="no sub-keys"):
        parse_options(svm.Options, ["cv.folds=3"], "evaluate svm")
