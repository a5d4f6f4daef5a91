-- wrk script: replays the requests written by gen_pushes. Each wrk thread takes its
-- own slice of the file, so no two requests carry the same event until a slice runs
-- out (size the file for the run: rate x duration).
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  requests = {}
  local path = os.getenv("PUSHES") or "target/load/pushes.tsv"
  for line in io.lines(path) do
    local target, body = line:match("^([^\t]+)\t(.*)$")
    if target then
      requests[#requests + 1] = wrk.format("POST", target,
        { ["Content-Type"] = "text/xml" }, body)
    end
  end
  local threads = tonumber(os.getenv("WRK_THREADS") or "1")
  slice = math.floor(#requests / threads)
  first = id * slice
  index = first
end

function request()
  index = index + 1
  if index > first + slice then
    index = first + 1
  end
  return requests[index]
end
