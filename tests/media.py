"""Constants shared by test modules: which shared videos to use, the one-process Beam flags, a tiny pipeline."""

FACE_VIDEOS = [  # ../shared/media/real_videos: small, one clear face each
    "AliaksandrSiarohin__first-order-model__demo_old__00.mp4",
    "AliaksandrSiarohin__first-order-model__demo_old__04.mp4",
    "KwaiVGI__LivePortrait__assets__examples__driving__d0.mp4",
    "KwaiVGI__LivePortrait__assets__examples__driving__d5.mp4",
]
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]  # DirectRunner, one process
# a whole pipeline run in about a minute: config overrides for skyhawk.demo.demo_config
TINY_PIPELINE = {
    "beam_args": IN_MEMORY,
    "extract.frames_per_video": 4,
    "extract.image_size": 75,
    "train.image_size": 75,
    "train.max_epochs": 1,
    "train.batch_size": 16,
    "train.threshold": 0.001,
    "gate.accuracy_floor": 0.0,
}
