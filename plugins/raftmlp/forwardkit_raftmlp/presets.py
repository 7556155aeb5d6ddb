"""RaftMLP presets (official configs/settings/*.yaml as read for the spec card; torch-free)."""

_K = [[4, 8], [2, 4], [2, 4], [2]]

PRESETS: dict[str, dict] = {
    "s": {"dims": [64, 128, 256, 512], "depths": [2, 2, 6, 2], "patches": [4, 2, 2, 2], "kernels": _K,
          "rafts": [2, 2, 2, 2], "mixing": "raft"},
    "m": {"dims": [96, 192, 384, 768], "depths": [2, 2, 6, 2], "patches": [4, 2, 2, 2], "kernels": _K,
          "rafts": [2, 2, 2, 2], "mixing": "raft"},
    "l": {"dims": [128, 192, 512, 1024], "depths": [2, 2, 6, 2], "patches": [4, 2, 2, 2], "kernels": _K,
          "rafts": [2, 2, 2, 2], "mixing": "raft"},
    "12_r1": {"dims": [768], "depths": [12], "patches": [16], "kernels": [[16]], "rafts": [1], "mixing": "raft"},
    "12_r2": {"dims": [768], "depths": [12], "patches": [16], "kernels": [[16]], "rafts": [2], "mixing": "raft"},
    "12_r4": {"dims": [768], "depths": [12], "patches": [16], "kernels": [[16]], "rafts": [4], "mixing": "raft"},
    "mixer_12": {"dims": [768], "depths": [12], "patches": [16], "kernels": [[16]], "rafts": [1],
                 "mixing": "mixer"},
    "tiny": {"dims": [16, 32], "depths": [1, 1], "patches": [4, 2], "kernels": [[4, 8], [2]], "rafts": [2, 2],
             "mixing": "raft"},
}
