"""A toy GAN in one graph: a generator learns to sample N(3, 0.5) from uniform noise.

    python examples/gan.py   -> generator samples: mean -0.003 std 0.386 -> mean 2.95 std 0.15

The mean is learnt; the spread stays narrower than the target's (the usual partial mode
collapse of a plain GAN this small).

Generator G: noise z f32[64, 4] (a RandomUniform op in the graph) -> dense 16 + tanh -> dense 1.
Discriminator D: sample -> dense 16 + tanh -> dense 1 (a logit), applied to the real batch (fed)
and to G's samples with the SAME variables. Two optimizers on one graph, each with the
var_list of its network:

    d_loss = xent(D(real), 1) + xent(D(G(z)), 0)      -> Adam over discriminator/*
    g_loss = xent(D(G(z)), 1)                          -> Adam over generator/*

and one training step runs D's update, then G's update (two run() calls, alternately).
"""
from __future__ import annotations

import argparse

import numpy as np

import gcc_flow as gf

TARGET_MEAN, TARGET_STD = 3.0, 0.5
BATCH, NOISE, HIDDEN = 64, 4, 16


class Dense:
    """A dense layer whose variables are made once and shared by every call."""

    def __init__(self, rng: np.random.Generator, fan_in: int, units: int, name: str):
        scale = np.sqrt(1.0 / fan_in)
        with gf.name_scope(name):
            self.w = gf.Variable(rng.normal(0, scale, (fan_in, units)).astype(np.float32),
                                 name="w")
            self.b = gf.Variable(np.zeros(units, np.float32), name="b")

    def __call__(self, x: gf.Tensor) -> gf.Tensor:
        return gf.nn.bias_add(gf.matmul(x, self.w), self.b)

    @property
    def variables(self) -> list:
        return [self.w, self.b]


def network(rng: np.random.Generator, fan_in: int, name: str) -> tuple:
    """x -> dense HIDDEN + tanh -> dense 1; returns (the function, its variables)."""
    with gf.name_scope(name):
        first, second = Dense(rng, fan_in, HIDDEN, "hidden"), Dense(rng, HIDDEN, 1, "out")
    return (lambda x: second(gf.tanh(first(x)))), first.variables + second.variables


def xent(logits: gf.Tensor, label: float) -> gf.Tensor:
    labels = gf.ones_like(logits) * label
    return gf.reduce_mean(gf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def build(rng: np.random.Generator, seed: int) -> dict:
    real = gf.placeholder(gf.float32, [BATCH, 1], name="real")
    generator, g_vars = network(rng, NOISE, "generator")
    discriminator, d_vars = network(rng, 1, "discriminator")
    z = gf.random_uniform([BATCH, NOISE], -1.0, 1.0, seed=seed, name="noise")
    fake = gf.identity(generator(z), name="samples")
    d_real, d_fake = discriminator(real), discriminator(fake)
    d_loss = gf.add(xent(d_real, 1.0), xent(d_fake, 0.0), name="d_loss")
    g_loss = gf.identity(xent(d_fake, 1.0), name="g_loss")
    d_train = gf.train.AdamOptimizer(0.002, beta1=0.5, name="d_adam").minimize(
        d_loss, var_list=d_vars)
    g_train = gf.train.AdamOptimizer(0.002, beta1=0.5, name="g_adam").minimize(
        g_loss, var_list=g_vars)
    return {"real": real, "fake": fake, "d_loss": d_loss, "g_loss": g_loss, "d_train": d_train,
            "g_train": g_train, "init": gf.global_variables_initializer()}


def sample_stats(sess, t: dict, batches: int = 8) -> tuple[float, float]:
    """Mean and std of the generator's samples over ``batches`` noise draws."""
    samples = np.concatenate([sess.run(t["fake"]) for _ in range(batches)])
    return float(samples.mean()), float(samples.std())


def main(steps: int = 1000, seed: int = 0, verbose: bool = True) -> dict:
    """Trains D and G alternately; returns {"d_losses", "g_losses", "mean_before",
    "std_before", "mean_after", "std_after", "target_mean", "target_std"}."""
    rng = np.random.default_rng(seed)
    graph = gf.Graph()
    with graph.as_default():
        gf.set_random_seed(seed)
        t = build(rng, seed)
    d_losses, g_losses = [], []
    with gf.Session(graph=graph) as sess:
        sess.run(t["init"])
        before = sample_stats(sess, t)
        for step in range(steps):
            real = rng.normal(TARGET_MEAN, TARGET_STD, (BATCH, 1)).astype(np.float32)
            d_loss, _ = sess.run([t["d_loss"], t["d_train"]], {t["real"]: real})
            g_loss, _ = sess.run([t["g_loss"], t["g_train"]])
            d_losses.append(float(d_loss))
            g_losses.append(float(g_loss))
            if verbose and (step % max(steps // 4, 1) == 0 or step == steps - 1):
                print(f"step {step:4d}  d_loss {d_loss:.4f}  g_loss {g_loss:.4f}")
        after = sample_stats(sess, t)
    if verbose:
        print(f"generator samples: mean {before[0]:.3f} std {before[1]:.3f} -> mean "
              f"{after[0]:.3f} std {after[1]:.3f}  (target {TARGET_MEAN} {TARGET_STD})")
    return {"d_losses": d_losses, "g_losses": g_losses, "mean_before": before[0],
            "std_before": before[1], "mean_after": after[0], "std_after": after[1],
            "target_mean": TARGET_MEAN, "target_std": TARGET_STD}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(steps=args.steps, seed=args.seed)
