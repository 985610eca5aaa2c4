import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The generated stubs import each other as `cforch.v1.*_pb2`, rooted at gen/python.
sys.path.insert(0, str(ROOT / "gen" / "python"))
