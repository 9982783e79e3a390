"""Constants shared by test modules: which shared videos to use, and the one-process Beam flags."""

FACE_VIDEOS = [  # ../shared/media/real_videos: small, one clear face each
    "AliaksandrSiarohin__first-order-model__demo_old__00.mp4",
    "AliaksandrSiarohin__first-order-model__demo_old__04.mp4",
    "KwaiVGI__LivePortrait__assets__examples__driving__d0.mp4",
    "KwaiVGI__LivePortrait__assets__examples__driving__d5.mp4",
]
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]  # DirectRunner, one process
