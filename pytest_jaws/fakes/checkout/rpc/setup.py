"""The fake jaws_rpc's version: from git, as JAWS's rpc/setup.py takes it (../fakeversion.py)."""
import pathlib
import runpy

runpy.run_path(str(pathlib.Path(__file__).resolve().parent.parent / "fakeversion.py"), run_name="__main__")
