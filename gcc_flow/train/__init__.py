"""``gf.train``: optimizers (GradientDescent, Momentum, Adam, Adagrad, RMSProp) and Saver."""
from gcc_flow.train.optimizers import *  # noqa: F401,F403
from gcc_flow.train.optimizers import __all__ as _optimizers_all
from gcc_flow.train.saver import *  # noqa: F401,F403
from gcc_flow.train.saver import __all__ as _saver_all

__all__ = list(_optimizers_all) + list(_saver_all)
