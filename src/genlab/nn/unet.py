"""A small U-Net for images (N, C, H, W): residual conv blocks with noise-level FiLM, one downsampling
per level, skip connections, self-attention at the lowest resolution. H and W must be divisible by
2^(len(channel_mults) - 1)."""

from __future__ import annotations

import torch
from torch import nn

from genlab.nn.embeddings import SinusoidalEmbedding


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4) or 1, channels)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(nn.functional.silu(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.norm = _norm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        b, c, h, w = x.shape
        seq = self.norm(x).flatten(2).transpose(1, 2)
        out, _ = self.attn(seq, seq, seq, need_weights=False)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    def __init__(self, example_shape, channels: int = 64, channel_mults=(1, 2), blocks_per_level: int = 2,
                 embedding: int = 128, dropout: float = 0.0, attention: bool = True, cond_dim: int = 0,
                 cond_channels: int = 0):
        """``cond_dim``: a condition vector added to the noise embedding; ``cond_channels``: a condition image
        (B, cond_channels, H, W) concatenated to the input, as the conditional score models of the CDSM paper
        take cat(x_t, y)."""
        super().__init__()
        c_img, height, width = example_shape
        factor = 2 ** (len(channel_mults) - 1)
        if height % factor or width % factor:
            raise ValueError(f"UNet with {len(channel_mults)} levels needs H, W divisible by {factor}, "
                             f"got {height}x{width}")
        self.noise_embedding = SinusoidalEmbedding(embedding)
        self.cond = nn.Linear(cond_dim, embedding) if cond_dim else None
        self.cond_channels = cond_channels
        self.inp = nn.Conv2d(c_img + cond_channels, channels, 3, padding=1)
        widths = [channels * m for m in channel_mults]
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skip_widths, c = [channels], channels
        for level, w in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(blocks_per_level):
                blocks.append(ResBlock(c, w, embedding, dropout))
                c = w
                skip_widths.append(c)
            self.down.append(blocks)
            last = level == len(widths) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))
            if not last:
                skip_widths.append(c)
        self.mid1 = ResBlock(c, c, embedding, dropout)
        self.mid_attn = Attention(c) if attention else nn.Identity()
        self.mid2 = ResBlock(c, c, embedding, dropout)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level, w in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(blocks_per_level + 1):  # one extra block consumes the skip from the level above
                blocks.append(ResBlock(c + skip_widths.pop(), w, embedding, dropout))
                c = w
            self.up.append(blocks)
            self.upsample.append(nn.Upsample(scale_factor=2, mode="nearest") if level > 0 else nn.Identity())
        assert not skip_widths, "every skip connection must be consumed"
        self.out = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, c_img, 3, padding=1))

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor, cond: torch.Tensor | None = None):
        emb = self.noise_embedding(noise_level)
        if self.cond is not None:
            emb = emb + self.cond(cond)
        if self.cond_channels:
            x = torch.cat([x, cond.to(x.dtype)], dim=1)
        h = self.inp(x)
        skips = [h]
        for blocks, down in zip(self.down, self.downsample):
            for block in blocks:
                h = block(h, emb)
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for blocks, up in zip(self.up, self.upsample):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            h = up(h)
        return self.out(h)

