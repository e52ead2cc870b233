import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pointdistill.losses.centering import Centering
from pointdistill.losses.sinkhorn import SinkhornKnopp


def test_probs_are_sharpened_centred_softmax():
    centering = Centering(3, momentum=0.9)
    centering.center.copy_(torch.tensor([[1.0, 0.0, 0.0]]))
    logits = torch.tensor([[1.0, 0.5, 0.0]])
    expected = torch.softmax(torch.tensor([[0.0, 0.5, 0.0]]) / 0.5, dim=-1)
    assert torch.allclose(centering.probs(logits, temp=0.5), expected)
    assert torch.allclose(centering.probs(logits, 0.04).sum(-1), torch.ones(1))


def update(centering: Centering, logits: torch.Tensor) -> None:
    centering.observe(logits)
    centering.commit()


def test_update_is_ema_of_batch_mean():
    centering = Centering(2, momentum=0.9)
    centering.center.copy_(torch.tensor([[1.0, 2.0]]))
    logits = torch.tensor([[[0.0, 4.0], [2.0, 0.0]], [[1.0, 2.0], [1.0, 2.0]]])  # [views, batch, K]; mean (1, 2)
    update(centering, logits)
    assert torch.allclose(centering.center, torch.tensor([[1.0, 2.0]]))
    update(centering, torch.tensor([[11.0, -8.0]]))
    assert torch.allclose(centering.center, torch.tensor([[0.9 + 1.1, 1.8 - 0.8]]))
    assert set(centering.state_dict()) == {"center"}  # nothing pending is ever saved


def test_micro_batches_are_folded_in_once_per_step():
    """Observing a step in two pieces and committing once equals observing it whole: no centre move in between."""
    logits = torch.randn(6, 4)
    whole, pieces = Centering(4, momentum=0.5), Centering(4, momentum=0.5)
    update(whole, logits)
    before = pieces.probs(logits[3:], temp=0.1)
    pieces.observe(logits[:3])
    assert torch.equal(pieces.probs(logits[3:], temp=0.1), before)  # the second micro-batch sees the old centre
    pieces.observe(logits[3:])
    pieces.commit()
    torch.testing.assert_close(pieces.center, whole.center, rtol=0, atol=1e-7)
    pieces.commit()  # an empty step leaves the centre alone
    torch.testing.assert_close(pieces.center, whole.center, rtol=0, atol=1e-7)


def _worker(rank: int, init_file: str, shards: list[torch.Tensor], out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        centering = Centering(shards[0].shape[-1], momentum=0.5)
        update(centering, shards[rank])
        probs = SinkhornKnopp(num_iterations=3)(shards[rank], temp=0.1)
        torch.save({"center": centering.center, "probs": probs}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_update_and_sinkhorn_use_the_global_batch(tmp_path):
    torch.manual_seed(0)
    # Unequal shard sizes: a per-process mean of means would differ from the global mean.
    shards = [torch.randn(3, 5), torch.randn(5, 5) + 1.0]
    out = str(tmp_path / "result")
    mp.spawn(_worker, args=(str(tmp_path / "init"), shards, out), nprocs=2, join=True)
    results = [torch.load(f"{out}.{rank}", weights_only=True) for rank in range(2)]

    reference = Centering(5, momentum=0.5)
    update(reference, torch.cat(shards))
    for result in results:
        assert torch.allclose(result["center"], reference.center, atol=1e-6)

    full = SinkhornKnopp(num_iterations=3)(torch.cat(shards), temp=0.1)
    assert torch.allclose(torch.cat([r["probs"] for r in results]), full, atol=1e-6)
