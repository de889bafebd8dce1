"""An independent, deliberately plain re-statement of the reference architecture, written from the
description in PAPER.md ("Exact tensor bookkeeping", "Checkpoint layout"), with the reference's parameter names.

It is a test oracle only: it shares no code with ``mobileiqa.models`` except the timm backbone, so a test that
loads the same weights into both checks the key mapping *and* our bookkeeping.
"""

from __future__ import annotations

import timm
import torch
from torch import nn
from torch.nn import functional as F


class OracleSAGAN(nn.Module):
    def __init__(self, c: int, ratio: int = 8):
        super().__init__()
        self.qConv = nn.Conv2d(c, c // ratio, 1)
        self.kConv = nn.Conv2d(c, c // ratio, 1)
        self.vConv = nn.Conv2d(c, c, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        b, c, h, w = x.shape
        n = h * w
        q = self.qConv(x).view(b, -1, n).permute(0, 2, 1)
        k = self.kConv(x).view(b, -1, n)
        a = torch.softmax(torch.bmm(q, k), dim=-1)
        v = self.vConv(x).view(b, -1, n)
        return self.gamma * torch.bmm(v, a.permute(0, 2, 1)).view(b, c, h, w) + x


class OracleAttention(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.c_q, self.c_k, self.c_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.dim = dim

    def forward(self, x):
        b, tokens, dim = x.shape
        a = torch.softmax(torch.matmul(self.c_q(x), self.c_k(x).permute(0, 2, 1)) / dim**0.5, dim=-1)
        out = torch.matmul(a, self.c_v(x))  # (B, tokens, dim)
        out = out.permute(0, 2, 1).contiguous().view(b, tokens, dim)  # transpose, then *reshape* back
        return out + x


class OracleMAL(nn.Module):
    def __init__(self, c: int, views: int, grid: int, ratio: int = 8):
        super().__init__()
        self.channel_attention = OracleAttention(c * views)  # tokens: positions
        self.feature_attention = OracleAttention(grid * grid * views)  # tokens: channels
        self.attention_module = nn.ModuleList(OracleSAGAN(c, ratio) for _ in range(views))
        self.c, self.v = c, views

    def forward(self, views):  # views: (V, B, C, G, G), view-first as in the reference
        attended = torch.stack([m(views[i]) for i, m in enumerate(self.attention_module)])  # (V, B, C, G, G)
        v, b, c, h, w = attended.shape
        cat = attended.permute(1, 0, 2, 3, 4).reshape(b, v * c, h * w)  # (view, channel) order
        as_cv = cat.view(b, c, v, h * w).reshape(b, c, v * h * w)  # regroup V*C as (C, V)
        feat = self.feature_attention(as_cv).view(b, c, v, h * w).reshape(b, v * c, h * w)
        chan = self.channel_attention(cat.permute(0, 2, 1)).permute(0, 2, 1)
        return ((feat + chan) / 2).view(b, v, c, h * w).mean(dim=1)  # (B, C, HW)


class OracleLDA(nn.Module):
    def __init__(self, cin: int, hidden: int, width: int, grid: int):
        super().__init__()
        self.cnn1, self.cnn2, self.grid = nn.Conv2d(cin, hidden, 1), nn.Conv2d(hidden, width, 1), grid

    def forward(self, x):
        return self.cnn2(F.adaptive_avg_pool2d(F.gelu(self.cnn1(x)), self.grid))


class OracleNet(nn.Module):
    """``role`` picks the reference names: teacher = global_vit/LGF, student = local_cnn/LDA."""

    def __init__(self, role: str, backbone: str, grid=22, width=256, hidden=512, opinions=3, pool=4,
                 head_channels=128, head_hidden=64, ratio=8, sigmoid=False):
        super().__init__()
        self.role, self.grid, self.pool, self.sigmoid = role, grid, pool, sigmoid
        net = timm.create_model(backbone, features_only=True, out_indices=(0, 1, 2, 3, 4), pretrained=False)
        setattr(self, "global_vit" if role == "teacher" else "local_cnn", net)
        prefix = "LGF" if role == "teacher" else "LDA"
        for i, c in enumerate(net.feature_info.channels()):
            setattr(self, f"{prefix}{i + 1}", OracleLDA(c, hidden, width, grid))
        self.MALs = nn.ModuleList(OracleMAL(width, 5, grid, ratio) for _ in range(opinions))
        self.fusion_mal = OracleMAL(width, opinions, grid, ratio)
        self.cnn = nn.Sequential(nn.Conv2d(width, head_channels, 1), nn.ReLU(), nn.AvgPool2d(pool),
                                 nn.Conv2d(head_channels, head_channels, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc_score = nn.Sequential(nn.Linear(head_channels, head_hidden), nn.ReLU(), nn.Dropout(0.1),
                                      nn.Linear(head_hidden, 1))
        self.prefix = prefix

    def forward(self, img):
        net = self.global_vit if self.role == "teacher" else self.local_cnn
        maps = [getattr(self, f"{self.prefix}{i + 1}")(f) for i, f in enumerate(net(img))]
        x = torch.stack(maps)  # (5, B, C, G, G)
        g = self.grid
        dof = torch.stack([m(x).view(x.shape[1], -1, g, g) for m in self.MALs])  # (3, B, C, G, G)
        fused = self.fusion_mal(dof).view(x.shape[1], -1, g, g)
        s = self.fc_score(self.cnn(fused).flatten(1)).view(-1)
        return x, dof, fused, torch.sigmoid(s) if self.sigmoid else s
