"""Build the multi-scene and long test titles of issue 12 from real corpus clips.

    python bench/make_titles.py [CORPUS_DIR] --out DIR [--titles a,b]

Each title is a fixed recipe of (clip, seconds): every scene is the clip normalised to the title's
size (scaled to cover, centre-cropped, square pixels), 25 fps, 4:2:0, looped when the clip is
shorter than its scene; the scenes are encoded alike (x264 CRF 14, veryfast, 2-s GOPs, no audio)
and joined without re-encoding. The long titles repeat a recipe by stream copy, so a 22-minute
title costs one encode of its 2.7 minutes. The titles are written outside the repository (the clips'
licences vary; only numbers derived from them are committed).

The groups (corpus file prefixes) used here are ``GROUPS``: a model judged on these titles must be
trained without them (``python bench/make_titles.py --groups`` prints them). ``feature_640x360`` uses
nearly every group, so no model can be held out from it: it is the ground truth of the excerpt
sampling (exhaustive even / content), not of ``--fast``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from pertitle.encoder.ffmpeg import locate

MIXED = [  # distinct content kinds, 5-18 s each (164 s)
    ("sam2_dog_1280x720.mp4", 15), ("sam2_juggle_1280x720.mp4", 10), ("sam2_coffee_1280x720.mp4", 15),
    ("sam2_blocks_1280x720.mp4", 10), ("sam2_bedroom_960x540.mp4", 10), ("cotracker_davis_bear_854x480.mp4", 5),
    ("cotracker_apple_1296x720.mp4", 10), ("propainter_figure_skating_tv_640x360.mp4", 6),
    ("propainter_drone_car_on_snow_972x540.mp4", 11), ("udacity_highway_dashcam_960x540.mp4", 15),
    ("createlab_snowy_industry_timelapse_1424x800.mp4", 10), ("depthanything_davis_dolphins_underwater_960x540.mp4", 5),
    ("liveportrait_woman_outdoor_bokeh_1280x720.mp4", 18), ("tennistracking_clay_court_broadcast_1920x1080.mp4", 12),
    ("liveportrait_webcam_facial_expressions_512x480.mp4", 12),
]
EPISODE = [  # mostly calm scenes with short demanding bursts (151 s): where even sampling can miss the action
    ("liveportrait_woman_outdoor_bokeh_1280x720.mp4", 30), ("createlab_smokestack_night_timelapse_1424x800.mp4", 20),
    ("sam2_coffee_1280x720.mp4", 20), ("propainter_drone_car_on_snow_972x540.mp4", 6),
    ("liveportrait_webcam_facial_expressions_512x480.mp4", 25), ("udacity_night_dashcam_1920x1080.mp4", 20),
    ("cotracker_apple_1296x720.mp4", 4), ("videodepthanything_davis_rollercoaster_960x540.mp4", 3),
    ("sam2_blocks_1280x720.mp4", 20), ("cotracker_davis_paragliding_launch_854x480.mp4", 3),
]
FEATURE = [  # every landscape corpus clip at least 400 wide, in manifest order, 7-14 s each (743 s, 12.4 min):
    # a feature-length stand-in with 71 distinct scenes, for the whole-title ground truth of a title over 10 minutes
    ("opencv_megamind_720x528.avi", 8), ("mdn_flower_960x540.mp4", 11),
    ("mdn_friday_his_girl_friday_640x480.mp4", 14), ("mdn_bug_grayscale_640x360.mp4", 9),
    ("mdn_tears_of_steel_battle_800x332.webm", 12), ("intel_asl_book_640x480.mkv", 7),
    ("intel_car_overhead_768x432.mp4", 10), ("imageio_cockatoo_1280x720.mp4", 13),
    ("realesrgan_onepiece_anime_640x480.mp4", 8), ("face_recognition_hamilton_whitehouse_640x360.mp4", 11),
    ("sam2_dog_1280x720.mp4", 14), ("sam2_juggle_1280x720.mp4", 9), ("sam2_coffee_1280x720.mp4", 12),
    ("sam2_blocks_1280x720.mp4", 7), ("sam2_bedroom_960x540.mp4", 10),
    ("cotracker_davis_paragliding_launch_854x480.mp4", 13), ("cotracker_davis_bear_854x480.mp4", 8),
    ("cotracker_apple_1296x720.mp4", 11), ("gtkfold_code_editor_screencast_1920x1080.webm", 14),
    ("qfield_map_app_screencast_1139x540.webm", 9), ("vmaf_nflx_seeking_720x480_1050k.mp4", 12),
    ("mmaction2_demo_skeleton_1920x1080.mp4", 7), ("liveportrait_webcam_facial_expressions_512x480.mp4", 10),
    ("liveportrait_woman_outdoor_bokeh_1280x720.mp4", 13), ("videodepthanything_davis_rollercoaster_960x540.mp4", 8),
    ("trackanything_kitten_blanket_568x320.mp4", 11), ("trackanything_aquarium_sharks_crowd_800x360.mp4", 14),
    ("trackanything_civil_war_airport_film_864x360.mp4", 9), ("propainter_figure_skating_tv_640x360.mp4", 12),
    ("propainter_skateboarder_city_640x360.mp4", 7), ("propainter_bmx_graffiti_pan_432x240.mp4", 10),
    ("propainter_drone_car_on_snow_972x540.mp4", 13), ("videollama_stage_performer_lowlight_720x480.mp4", 8),
    ("videollama_birthday_stock_watermark_596x336.mp4", 11), ("videollama_river_skyline_static_592x336.mp4", 14),
    ("videollama_man_dog_indoor_854x480.mp4", 9), ("askanything_batting_cage_handheld_426x320.mp4", 12),
    ("askanything_bass_guitar_closeup_470x320.mp4", 7),
    ("askanything_animated_drawings_splitscreen_1280x720.mp4", 10), ("askanything_yoga_terrace_568x320.mp4", 13),
    ("videollava_web_ui_screen_recording_2048x1810.mp4", 8), ("videollava_baby_reading_watermark_640x360.mp4", 11),
    ("rerender_redhead_portrait_warm_960x720.mp4", 14), ("rerender_gradient_lit_portrait_960x506.mp4", 9),
    ("controlvideo_moonwalk_dancer_stage_1084x1080.mp4", 12),
    ("depthanything_davis_dolphins_underwater_960x540.mp4", 7),
    ("cotracker_davis_paragliding_aerial_854x480.mp4", 10), ("decord_kinetics_pancake_home_video_426x240.mkv", 13),
    ("mmaction2_basketball_gym_426x240.mp4", 8), ("yolov4deepsort_pedestrian_street_highangle_1920x1080.mp4", 11),
    ("tennistracking_clay_court_broadcast_1920x1080.mp4", 14), ("firesmoke_wildfire_with_boxes_400x256.mp4", 9),
    ("sportslabkit_soccer_wide_hevc_3072x1728.mp4", 12), ("sportslabkit_soccer_drone_topdown_1260x708.mp4", 7),
    ("lapses_snowy_courtyard_timelapse_1280x720.mp4", 10), ("videoonmap_drone_city_topdown_1920x1080.mp4", 13),
    ("oneblocksurvival_voxel_game_1280x720.mp4", 8), ("rocketgame_lowpoly_unity_watermark_1920x1080.mp4", 11),
    ("autoeditor_minecraft_gameplay_1920x1080.mp4", 14), ("videoascii_anime_fan_edit_640x360.mp4", 9),
    ("pyscenedetect_nature_macro_deer_1280x720.mp4", 12),
    ("pyscenedetect_bbc_documentary_anamorphic_704x576.mp4", 7),
    ("pyscenedetect_goldeneye_film_rotated_1280x544.mp4", 10), ("katna_elephants_dream_cg_720x480.mp4", 13),
    ("univtg_charades_bedroom_480x270.mp4", 8), ("udacity_night_dashcam_1920x1080.mp4", 11),
    ("udacity_highway_dashcam_960x540.mp4", 14), ("createlab_smokestack_night_timelapse_1424x800.mp4", 9),
    ("createlab_snowy_industry_timelapse_1424x800.mp4", 12), ("mdn_crystal_toy_handheld_720x480.mp4", 7),
    ("worldsendingsong_indie_game_trailer_1280x720.mp4", 10),
]
TITLES = {
    # name: (recipe, width, height, repeats)
    "mixed_640x360": (MIXED, 640, 360, 1),
    "episode_960x540": (EPISODE, 960, 540, 1),
    "feature_640x360": (FEATURE, 640, 360, 1),
    "mixed_1920x1080": (MIXED, 1920, 1080, 1),
    "mixed_1920x1080_x4": (MIXED, 1920, 1080, 4),
    "mixed_1920x1080_x8": (MIXED, 1920, 1080, 8),
}
GROUPS = sorted({clip.split("_", 1)[0] for recipe in (MIXED, EPISODE) for clip, _ in recipe})


def scene_command(ff: str, clip: str, seconds: float, w: int, h: int, out: str) -> list[str]:
    vf = (f"fps=25,scale={w}:{h}:force_original_aspect_ratio=increase:flags=bicubic,crop={w}:{h},setsar=1,"
          "format=yuv420p")
    return [ff, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", clip,
            "-t", f"{seconds}", "-an", "-sn", "-dn", "-vf", vf, "-c:v", "libx264", "-preset", "veryfast",
            "-crf", "14", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-video_track_timescale", "12800",
            "-movflags", "+faststart", out]


def concat(ff: str, parts: list[str], out: str, tmp: str) -> None:
    listing = os.path.join(tmp, "list.txt")
    with open(listing, "w", encoding="utf-8") as fh:
        fh.writelines(f"file '{p}'\n" for p in parts)
    subprocess.run([ff, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                    "-i", listing, "-c", "copy", "-movflags", "+faststart", out], check=True)


def build(ff: str, corpus: str, name: str, out_dir: str) -> str:
    recipe, w, h, repeats = TITLES[name]
    out = os.path.join(out_dir, name + ".mp4")
    if os.path.exists(out):
        return out
    base = os.path.join(out_dir, f"mixed_{w}x{h}.mp4") if repeats > 1 else None
    with tempfile.TemporaryDirectory(prefix="pertitle-titles-") as tmp:
        if base and os.path.exists(base):
            concat(ff, [os.path.abspath(base)] * repeats, out + ".part.mp4", tmp)
        else:
            parts = []
            for i, (clip, seconds) in enumerate(recipe):
                part = os.path.join(tmp, f"{i:03d}.mp4")
                subprocess.run(scene_command(ff, os.path.join(corpus, clip), seconds, w, h, part), check=True)
                parts.append(part)
            concat(ff, parts * repeats, out + ".part.mp4", tmp)
    os.replace(out + ".part.mp4", out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                              "corpus"))
    ap.add_argument("--out", help="where the titles go (outside the repository)")
    ap.add_argument("--titles", default=",".join(TITLES))
    ap.add_argument("--groups", action="store_true", help="print the corpus groups the titles use and exit")
    a = ap.parse_args()
    if a.groups:
        print(",".join(GROUPS))
        return
    if not a.out:
        sys.exit("--out is required")
    os.makedirs(a.out, exist_ok=True)
    ff = locate().path
    for name in a.titles.split(","):
        print(build(ff, a.corpus, name, a.out), flush=True)


if __name__ == "__main__":
    main()
